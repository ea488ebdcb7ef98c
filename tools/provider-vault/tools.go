//go:build tools

// Package tools pins terraform-provider-vault so that `go mod tidy` keeps its
// requirement; built by ../build.sh.
package tools

import _ "github.com/hashicorp/terraform-provider-vault"
