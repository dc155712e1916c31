// Command addheader is the benchmarks' plugin: one header added each way.
// Build it with
//
//	CGO_ENABLED=1 go build -buildmode=plugin -o plugins/addheader.so ./pluginhost/examples/addheader
package main

import (
	"github.com/spillway-lb/spillway/pluginhost/examples/addheader/headerplugin"
	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// New is the symbol Spillway looks up.
func New() plugin.Handler { return headerplugin.New() }

// main is never run: Spillway loads this package as a plugin. It lets
// `go build ./...` build the package like any other command.
func main() {}
