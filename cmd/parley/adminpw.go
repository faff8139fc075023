package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/parley-sip/parley/admin"
)

// adminPassword reads one password line from stdin and prints the
// admin.users[].password_hash for it.
func adminPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: parley admin-password < password-file   (the password is read from stdin, not the command line)")
		return 2
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintln(stderr, "parley admin-password:", err)
		return 1
	}
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < 8 {
		fmt.Fprintln(stderr, "parley admin-password: give a password of at least 8 characters on stdin")
		return 2
	}
	h, err := admin.HashPassword(pw)
	if err != nil {
		fmt.Fprintln(stderr, "parley admin-password:", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}
