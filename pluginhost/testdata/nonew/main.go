// Command nonew is a Go plugin that forgot to export New.
package main

// Hello is exported so the plugin has a symbol, just not New.
func Hello() string { return "hello" }

// main is never run: Spillway loads this package as a plugin. It lets
// `go build ./...` build the package like any other command.
func main() {}
