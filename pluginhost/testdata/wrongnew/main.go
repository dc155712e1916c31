// Command wrongnew is a Go plugin whose New has the wrong type.
package main

// New returns a string instead of a plugin.Handler.
func New() string { return "not a handler" }

// main is never run: Spillway loads this package as a plugin. It lets
// `go build ./...` build the package like any other command.
func main() {}
