// kstatus reads Kubernetes objects (JSON or YAML, one or many documents, List objects expanded)
// on stdin and prints, one JSON line per object, the status sigs.k8s.io/cli-utils/pkg/kstatus
// computes for it: the health rule Flux (wait: true) and kpt apply use. The tests compare the
// operator's conditions against this verdict, so the rule is the library's, not a copy of it.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

type verdict struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Message   string `json:"message"`
	Error     string `json:"error,omitempty"`
}

func main() {
	docs := utilyaml.NewYAMLReader(bufio.NewReader(os.Stdin))
	out := json.NewEncoder(os.Stdout)
	n := 0
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fail("reading stdin: %v", err)
		}
		objs, err := objects(doc)
		if err != nil {
			fail("stdin is not JSON or YAML objects: %v", err)
		}
		for _, item := range objs {
			u := &unstructured.Unstructured{Object: item}
			v := verdict{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
			res, err := status.Compute(u)
			if err != nil {
				v.Error = err.Error()
			} else {
				v.Status = res.Status.String()
				v.Message = res.Message
			}
			if err := out.Encode(v); err != nil {
				fail("writing stdout: %v", err)
			}
			n++
		}
	}
	if n == 0 {
		fail("no objects on stdin: pipe JSON or YAML (e.g. kubectl get -o json)")
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kstatus: "+format+"\n", args...)
	os.Exit(2)
}

// objects parses one YAML document, or a run of JSON values (one per line is fine), into
// objects with whole numbers as int64 (as the apiserver's own decoder gives them to kstatus).
func objects(doc []byte) ([]map[string]interface{}, error) {
	doc = bytes.TrimSpace(doc)
	if len(doc) == 0 {
		return nil, nil
	}
	var raws []json.RawMessage
	if doc[0] == '{' || doc[0] == '[' {
		dec := json.NewDecoder(bytes.NewReader(doc))
		for {
			var raw json.RawMessage
			if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, err
			}
			raws = append(raws, raw)
		}
	} else {
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		raws = append(raws, j)
	}
	var list []map[string]interface{}
	for _, raw := range raws {
		var v interface{}
		if err := utiljson.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		switch t := v.(type) {
		case map[string]interface{}:
			list = append(list, expand(t)...)
		case []interface{}:
			list = append(list, expand(map[string]interface{}{"items": t})...)
		case nil:
		default:
			return nil, fmt.Errorf("a %T is not an object", v)
		}
	}
	return list, nil
}

// expand turns a List (kubectl get -o json of many objects) into its items.
func expand(obj map[string]interface{}) []map[string]interface{} {
	items, ok := obj["items"].([]interface{})
	if !ok {
		return []map[string]interface{}{obj}
	}
	var list []map[string]interface{}
	for _, it := range items {
		if m, ok := it.(map[string]interface{}); ok {
			list = append(list, m)
		}
	}
	return list
}
