// Package plugin is the API a Spillway plugin is written against. It keeps
// Terraster's plugin interface exactly, so a Terraster plugin ports by
// changing its import line.
//
// A plugin is a Go package main built with
//
//	CGO_ENABLED=1 go build -buildmode=plugin -o plugins/NAME.so ./DIR
//
// that exports New of type func() Handler. Spillway opens every .so in its
// plugin_directory at start, orders the handlers by Priority then Name and
// runs them around every proxied request (see Handler).
//
// Every plugin links this package, so it imports nothing beyond the
// standard library's net/http and a JSON encoder.
package plugin

import (
	"context"
	"net/http"
)

// Handler is what a plugin's New returns. Spillway calls its methods from
// many goroutines at once; a Handler guards its own state.
type Handler interface {
	// ProcessRequest runs after routing and before a backend is chosen.
	// The plugin may change req in place (method, URL, Host, headers,
	// body); the changes are forwarded whatever the Result. A Stop result
	// answers the client instead of the backend.
	//
	// ctx carries the plugin's deadline (its timeout setting, default 5s)
	// and the request's values. The plugin may keep it: once the call
	// returns, Done is closed and Err is set, while Value and Deadline go
	// on answering for this call.
	ProcessRequest(ctx context.Context, req *http.Request) *Result
	// ProcessResponse runs on the backend's response before it is sent.
	// resp.Request is the request ProcessRequest saw, with any context the
	// plugin attached there. A Stop result replaces the response's status
	// (when set), headers and body (when set), and skips later plugins.
	ProcessResponse(ctx context.Context, resp *http.Response) *Result
	// Name identifies the plugin in settings and logs; it must be unique.
	Name() string
	// Priority orders plugins: lower runs first, ties by Name.
	Priority() int
	// Cleanup runs once at shutdown.
	Cleanup() error
}

// Configurer is implemented by a Handler that takes settings. Spillway
// calls Configure once after loading and before the first request, with the
// plugin's config block from the configuration file as a JSON object ("{}"
// when there is none). An error stops Spillway from starting.
type Configurer interface {
	Configure(config []byte) error
}

// Phase is a set of the two phases of a request a plugin can take part in.
type Phase int

const (
	// RequestPhase is ProcessRequest, on the client's request.
	RequestPhase Phase = 1 << iota
	// ResponsePhase is ProcessResponse, on the backend's response.
	ResponsePhase
)

// PhaseChooser is implemented by a Handler that does nothing in one of its
// phases. Spillway then does not call that method, and converts nothing
// for a phase no loaded plugin takes part in: with only request-phase
// plugins, responses are never converted to net/http. A Handler without
// it takes part in both phases. Phases is called once, at start.
type PhaseChooser interface {
	Phases() Phase
}

// Action tells Spillway what to do after a plugin returns.
type Action int

const (
	// Continue goes on with the next plugin and then the backend.
	Continue Action = iota
	// Stop answers the client with the Result (request phase) or replaces
	// the backend's response with it (response phase); later plugins are
	// skipped.
	Stop
	// Modify goes on like Continue; it documents that the plugin changed
	// the request or response in place.
	Modify
)

// String returns the action's name.
func (a Action) String() string {
	switch a {
	case Continue:
		return "Continue"
	case Stop:
		return "Stop"
	case Modify:
		return "Modify"
	}
	return "Action(?)"
}
