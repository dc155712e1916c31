// Command mismatch is a plugin whose module replaces a module Spillway also
// links (bytebufferpool) with a local copy, so its effective version
// differs. The test copies it to a temporary module.
package main

import (
	"context"
	"net/http"

	"github.com/valyala/bytebufferpool"

	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

type mismatch struct{}

// New is the plugin's entry point.
func New() plugin.Handler { return mismatch{} }

func (mismatch) Name() string   { return "mismatch" }
func (mismatch) Priority() int  { return 0 }
func (mismatch) Cleanup() error { return nil }

func (mismatch) ProcessRequest(_ context.Context, req *http.Request) *plugin.Result {
	b := bytebufferpool.Get()
	defer bytebufferpool.Put(b)
	return plugin.ResultContinue
}

func (mismatch) ProcessResponse(context.Context, *http.Response) *plugin.Result {
	return plugin.ResultContinue
}

// main is never run: Spillway loads this package as a plugin. It lets
// `go build ./...` build the package like any other command.
func main() {}
