package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockFileName is the file in the data directory whose lock says which
// process owns the directory.
const LockFileName = "huizong.lock"

// ErrLocked means another process holds the data directory: a running
// server, or a restore in progress.
var ErrLocked = errors.New("data directory in use")

// DirLock is an exclusive hold on a data directory. Only one process may
// hold it: a server for its whole lifetime, or a restore while it swaps the
// database file. Without it a restore under a live server deletes the
// files the server keeps writing to, and two servers on one directory
// both take writes; both lost acknowledged records in an outside test.
type DirLock struct {
	f *os.File
}

// LockDir takes the exclusive lock on dir (creating dir, 0700, if need be)
// and writes this process's id into the lock file. When another process
// holds it, the error wraps ErrLocked and names that process's id.
func LockDir(dir string) (*DirLock, error) {
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, describePathErr(path, err)
	}
	if err := flock(f); err != nil {
		pid := readPID(f)
		f.Close()
		if errors.Is(err, errWouldBlock) {
			who := "another process"
			if pid > 0 {
				who = fmt.Sprintf("another huizong process (pid %d)", pid)
			}
			return nil, fmt.Errorf("%w: %s is held by %s; stop it first", ErrLocked, dir, who)
		}
		return nil, describePathErr(path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		_ = f.Sync()
	}
	return &DirLock{f: f}, nil
}

// Unlock releases the lock. The lock file stays: removing it would let a
// process that opened it before the removal lock a file nobody else sees.
func (l *DirLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close() // closing the descriptor releases the flock
	l.f = nil
	return err
}

func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil {
		return 0
	}
	return pid
}

// ensureDir creates dir with mode 0700, and tightens an existing one the
// server owns: it holds password hashes and signing keys.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return describePathErr(dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return describePathErr(dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s: not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return describePathErr(dir, err)
		}
	}
	return nil
}
