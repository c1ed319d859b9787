//go:build tools

// Package tools pins the Prometheus server this module builds: Debian's package is built
// without Kubernetes service discovery, which the pod-network Prometheus needs.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
)
