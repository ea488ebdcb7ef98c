//go:build tools

// Package tools pins actionlint (github.com/rhysd/actionlint/cmd/actionlint), the
// GitHub Actions workflow linter, so that `go mod tidy` keeps its requirement.
// Built (and cached) by test/workflow.test.ts.
package tools

import _ "github.com/rhysd/actionlint/cmd/actionlint"
