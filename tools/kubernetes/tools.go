//go:build tools

// Package tools pins the Kubernetes API server and kubectl (k8s.io/kubernetes/cmd/kube-apiserver,
// k8s.io/kubernetes/cmd/kubectl) so that `go mod tidy` keeps their requirement; built by ../build.sh.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
