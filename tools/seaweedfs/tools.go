//go:build tools

// Pins the SeaweedFS server (its S3 gateway verifies SigV4 signatures) that the test harness
// builds into ~/.cache/modelgate/seaweedfs-<version>/ (scripts/build-seaweedfs.sh).
package tools

import _ "github.com/seaweedfs/seaweedfs/weed"
