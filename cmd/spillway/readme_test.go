package main

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeShowsTheReferenceConfig keeps the README's reference example
// identical to configs/spillway.yaml, which TestCheckShippedConfigs
// validates, so the documentation cannot drift from what the code accepts.
func TestReadmeShowsTheReferenceConfig(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := os.ReadFile("../../configs/spillway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const head = "### Reference example\n\n```yaml\n"
	_, rest, ok := strings.Cut(string(readme), head)
	if !ok {
		t.Fatalf("README has no %q section", strings.TrimSpace(head))
	}
	block, _, ok := strings.Cut(rest, "\n```\n")
	if !ok {
		t.Fatal("README's reference example is not closed")
	}
	if want := strings.TrimRight(string(ref), "\n"); block != want {
		t.Errorf("README's reference example differs from configs/spillway.yaml; copy the file into the README")
	}
}
