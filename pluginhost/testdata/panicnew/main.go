// Command panicnew is a Go plugin whose New panics.
package main

import "github.com/spillway-lb/spillway/pluginhost/plugin"

// New panics, as a plugin with broken start-up code would.
func New() plugin.Handler { panic("panicnew: cannot start") }

// main is never run: Spillway loads this package as a plugin. It lets
// `go build ./...` build the package like any other command.
func main() {}
