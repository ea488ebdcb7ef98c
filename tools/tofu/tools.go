//go:build tools

// Package tools pins the OpenTofu CLI (github.com/opentofu/opentofu/cmd/tofu)
// so that `go mod tidy` keeps its requirement; built by ../build.sh.
package tools

import _ "github.com/opentofu/opentofu/cmd/tofu"
