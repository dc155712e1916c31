// Command thirdparty is a plugin in its own module that requires Spillway
// through a replace, as an outside author writes one. The test copies it to
// a temporary module.
package main

import (
	"context"
	"net/http"

	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

type thirdParty struct{}

// New is the plugin's entry point.
func New() plugin.Handler { return thirdParty{} }

func (thirdParty) Name() string   { return "thirdparty" }
func (thirdParty) Priority() int  { return 10 }
func (thirdParty) Cleanup() error { return nil }

func (thirdParty) ProcessRequest(_ context.Context, req *http.Request) *plugin.Result {
	req.Header.Add("X-Order", "thirdparty")
	return plugin.ResultContinue
}

func (thirdParty) ProcessResponse(_ context.Context, resp *http.Response) *plugin.Result {
	resp.Header.Add("X-Order", "thirdparty")
	return plugin.ResultModify
}

// main is never run: Spillway loads this package as a plugin. It lets
// `go build ./...` build the package like any other command.
func main() {}
