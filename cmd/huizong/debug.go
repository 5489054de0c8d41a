package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// serveDebug serves net/http/pprof on addr, a loopback address (the
// config refuses others; an operator reaches it through a tunnel), until
// ctx ends or stop is called. It returns the address bound, which tells
// the port when addr asks for port 0. The handlers are registered on a
// mux of their own: importing net/http/pprof also registers them on
// http.DefaultServeMux, which nothing here serves.
func serveDebug(ctx context.Context, addr string, log *slog.Logger) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("debug listen %s: %w", addr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		_ = ln.Close()
		return "", nil, fmt.Errorf("debug listen %s: not a loopback address", addr)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also the named profiles: goroutine, heap, allocs...
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		// No WriteTimeout: a CPU profile or a trace takes as long as
		// ?seconds= asks, and pprof refuses one longer than the timeout.
		IdleTimeout:    60 * time.Second,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	bound = ln.Addr().String()
	log.Info("debug server listening: pprof at /debug/pprof/", slog.String("addr", bound))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("debug server", slog.String("error", err.Error()))
		}
	}()
	// Profiles in flight are cut short: this server only ever helps an
	// operator, and must not hold up a shutdown.
	unwatch := context.AfterFunc(ctx, func() { _ = srv.Close() })
	stop = func() {
		unwatch()
		_ = srv.Close()
		<-done
	}
	return bound, stop, nil
}
