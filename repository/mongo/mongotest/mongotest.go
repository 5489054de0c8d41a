// Package mongotest gives tests a MongoDB to run against: a real one when
// HUIZONG_TEST_MONGODB_URI is set, otherwise FerretDB v1.24.2 started in
// the test binary on an SQLite directory. Only _test.go files import it,
// so FerretDB never reaches the product binary.
package mongotest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Server is a running MongoDB-compatible server and one client to it.
type Server struct {
	URI    string
	Client *mongo.Client
	// Ferret is true when the server is the embedded FerretDB.
	Ferret bool
	stop   func()
}

// Start connects to HUIZONG_TEST_MONGODB_URI, or starts FerretDB in dir.
// Call it once per package (TestMain): a FerretDB start is cheap, but a
// client per test is not needed.
func Start(ctx context.Context, dir string) (*Server, error) {
	if uri := os.Getenv("HUIZONG_TEST_MONGODB_URI"); uri != "" {
		c, err := mongo.Connect(options.Client().ApplyURI(uri).SetTimeout(30 * time.Second))
		if err != nil {
			return nil, err
		}
		return &Server{URI: uri, Client: c, stop: func() { _ = c.Disconnect(context.Background()) }}, nil
	}
	return StartFerret(ctx, dir, "127.0.0.1:0")
}

// StartFerret starts FerretDB on addr with its data in dir. A test that
// stopped one can start another on the same dir and addr: the data is
// there again, as after a database server's restart.
func StartFerret(ctx context.Context, dir, addr string) (*Server, error) {
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return nil, fmt.Errorf("ferretdb: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(runCtx)
	}()
	uri := f.MongoDBURI()
	// One connection: FerretDB's SQLite handler loses concurrent updates
	// otherwise (STORAGE.md).
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetMaxPoolSize(1).SetTimeout(60 * time.Second))
	if err != nil {
		cancel()
		<-done
		return nil, err
	}
	return &Server{URI: uri, Client: c, Ferret: true, stop: func() {
		_ = c.Disconnect(context.Background())
		cancel()
		<-done
	}}, nil
}

// Stop disconnects and stops FerretDB.
func (s *Server) Stop() { s.stop() }

// Database returns a fresh database name for t, dropped at cleanup.
func (s *Server) Database(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.Client.Database(name).Drop(ctx)
	})
	return name
}

// Main runs a package's tests with a Server started first (in a temporary
// directory) and stopped after; use receives it before any test runs. It
// returns the exit code for os.Exit.
func Main(m *testing.M, use func(*Server)) int {
	dir, err := os.MkdirTemp("", "huizong-ferretdb-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	s, err := Start(context.Background(), dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start MongoDB for tests:", err)
		return 1
	}
	defer s.Stop()
	use(s)
	return m.Run()
}

// Serial starts a proxy to the server that passes one command at a time
// across all its connections, and returns its address. Several processes
// can then share the embedded FerretDB, which loses concurrent updates
// made over several connections; a real MongoDB needs no proxy. Clients
// should ask for serverMonitoringMode=poll (a streamed hello would hold
// the proxy).
func Serial(t testing.TB, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		one   sync.Mutex // held from a command's first byte to its reply's last
		conns sync.WaitGroup
	)
	t.Cleanup(func() {
		ln.Close()
		conns.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				defer c.Close()
				b, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer b.Close()
				for {
					msg, err := readWireMessage(c)
					if err != nil {
						return
					}
					one.Lock()
					if _, err := b.Write(msg); err != nil {
						one.Unlock()
						return
					}
					var reply []byte
					if !moreToCome(msg) {
						reply, err = readWireMessage(b)
					}
					one.Unlock()
					if err != nil {
						return
					}
					if _, err := c.Write(reply); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// readWireMessage reads one MongoDB wire protocol message: a little-endian
// int32 length (itself included), then the rest.
func readWireMessage(r io.Reader) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n := int(binary.LittleEndian.Uint32(head[:]))
	if n < 16 || n > 64<<20 {
		return nil, fmt.Errorf("wire message of %d bytes", n)
	}
	msg := make([]byte, n)
	copy(msg, head[:])
	_, err := io.ReadFull(r, msg[4:])
	return msg, err
}

// moreToCome reports whether an OP_MSG expects no reply.
func moreToCome(msg []byte) bool {
	const opMsg = 2013
	return len(msg) >= 20 && binary.LittleEndian.Uint32(msg[12:]) == opMsg && binary.LittleEndian.Uint32(msg[16:])&2 != 0
}
