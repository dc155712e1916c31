// Command probe is a test plugin whose behaviour its config chooses, so one
// build covers every phase behaviour the host tests check.
package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/valyala/bytebufferpool"

	"github.com/spillway-lb/spillway/pluginhost/plugin"
)

// phase says what the plugin does in one phase.
type phase struct {
	Stop    bool              `json:"stop"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    *string           `json:"body"`
	Panic   bool              `json:"panic"`
	Sleep   string            `json:"sleep"` // ignores ctx: a plugin that hangs
	Only    string            `json:"only"`  // path prefix the above applies to; "" means all
	// Path and Query, when set, replace the request's URL path and query
	// (request phase only).
	Path  string  `json:"path"`
	Query *string `json:"query"`
}

type config struct {
	Request       phase  `json:"request"`
	Response      phase  `json:"response"`
	FailConfigure string `json:"fail_configure"`
	CleanupFile   string `json:"cleanup_file"`
	CleanupSleep  string `json:"cleanup_sleep"` // a Cleanup that hangs first
}

type probe struct{ cfg config }

type ctxKey struct{}

// New is the plugin's entry point.
func New() plugin.Handler { return &probe{} }

func (p *probe) Name() string  { return "probe" }
func (p *probe) Priority() int { return 20 }

func (p *probe) Configure(b []byte) error {
	if err := json.Unmarshal(b, &p.cfg); err != nil {
		return err
	}
	if p.cfg.FailConfigure != "" {
		return errors.New(p.cfg.FailConfigure)
	}
	return nil
}

func (p *probe) Cleanup() error {
	if d, err := time.ParseDuration(p.cfg.CleanupSleep); err == nil {
		time.Sleep(d)
	}
	if p.cfg.CleanupFile == "" {
		return nil
	}
	f, err := os.OpenFile(p.cfg.CleanupFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString("cleanup\n")
	return err
}

func (p *probe) ProcessRequest(ctx context.Context, req *http.Request) *plugin.Result {
	req.Header.Add("X-Order", "probe")
	if d, ok := ctx.Deadline(); ok {
		req.Header.Set("X-Probe-Budget-Ms", strconv.FormatInt(time.Until(d).Milliseconds(), 10))
	}
	*req = *req.WithContext(context.WithValue(req.Context(), ctxKey{}, "from-request-"+req.URL.Path))
	if p.cfg.Request.Path != "" {
		req.URL.Path = p.cfg.Request.Path
	}
	if q := p.cfg.Request.Query; q != nil {
		req.URL.RawQuery = *q
	}
	return run(p.cfg.Request, req.URL.Path)
}

func (p *probe) ProcessResponse(ctx context.Context, resp *http.Response) *plugin.Result {
	resp.Header.Add("X-Order", "probe")
	if v, ok := resp.Request.Context().Value(ctxKey{}).(string); ok {
		resp.Header.Set("X-Probe-Ctx", v)
	}
	return run(p.cfg.Response, resp.Request.URL.Path)
}

func run(ph phase, path string) *plugin.Result {
	if !strings.HasPrefix(path, ph.Only) {
		return plugin.ResultContinue
	}
	if ph.Panic {
		panic("probe: asked to panic")
	}
	if ph.Sleep != "" {
		d, _ := time.ParseDuration(ph.Sleep)
		time.Sleep(d)
	}
	if !ph.Stop {
		return plugin.ResultModify
	}
	h := http.Header{}
	for k, v := range ph.Headers {
		h.Set(k, v)
	}
	r := plugin.NewResult(plugin.Stop, plugin.WithStatus(ph.Status), plugin.WithHeaders(h))
	if ph.Body != nil {
		// Through bytebufferpool so this plugin links a module Spillway
		// links too: the build-check test compares against it.
		b := bytebufferpool.Get()
		b.SetString(*ph.Body)
		r.ResponseBody = append([]byte{}, b.B...)
		bytebufferpool.Put(b)
	}
	return r
}

// main is never run: Spillway loads this package as a plugin. It lets
// `go build ./...` build the package like any other command.
func main() {}
