package main

import (
	"fmt"
	"io"
)

func serve(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "parley serve: not yet: the server lands with the transport layer")
	return 1
}
