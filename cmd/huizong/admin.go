package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/huizong/huizong/configs"
	"github.com/huizong/huizong/services"
)

// resetPassword is huizong admin reset-password: the way back in when the
// admin's password is lost. It works with the server stopped or running
// (it opens the store as the server does, without the directory lock). The
// new password comes from HUIZONG_NEW_PASSWORD, else from the terminal
// (asked twice, not echoed), else it is generated and printed once.
func resetPassword(ctx context.Context, cfg configs.Config, log *slog.Logger, username string, getenv func(string) string,
	stdin io.Reader, stdout, stderr io.Writer) error {
	password := getenv("HUIZONG_NEW_PASSWORD")
	if password == "" {
		if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			p, err := askPassword(f, stderr)
			if err != nil {
				return err
			}
			password = p
		}
	}
	st, err := openStore(ctx, cfg, log, false)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer st.Close()
	passwords := services.NewPasswords(services.DefaultPasswordParams(), runtime.NumCPU())
	auth := services.NewAuth(st, st, nil, passwords, services.NewAudit(st, time.Now, log), nil, nil, time.Now, services.AuthConfig{}, log)
	generated, u, err := auth.ResetPassword(ctx, username, password)
	switch {
	case errors.Is(err, services.ErrNotFound):
		return fmt.Errorf("no account with username or mobile number %q", username)
	case services.KindOf(err) == services.KindInvalid:
		var se *services.Error
		if errors.As(err, &se) && len(se.Fields) > 0 {
			return fmt.Errorf("the new password is not accepted (%s); choose a longer one with letters and digits", se.Fields[0].Code)
		}
		return err
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "password of %s (%s) reset; every session of the account is signed out\n", u.Username, u.Name)
	if generated != "" {
		fmt.Fprintf(stdout, "  new password: %s\n  (shown once; the account must change it at its next sign-in)\n", generated)
	}
	return nil
}

// askPassword reads a new password twice from the terminal without echo.
func askPassword(f *os.File, prompt io.Writer) (string, error) {
	read := func(label string) (string, error) {
		fmt.Fprint(prompt, label)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		return strings.TrimRight(string(b), "\r\n"), err
	}
	p1, err := read("New password (empty: generate one): ")
	if err != nil {
		return "", err
	}
	if p1 == "" {
		return "", nil
	}
	p2, err := read("Again: ")
	if err != nil {
		return "", err
	}
	if p1 != p2 {
		return "", errors.New("the two passwords differ; nothing changed")
	}
	return p1, nil
}
