// Command parley is the Parley SIP server and softphone: main.go has the
// command dispatch and version, serve.go `parley serve` (config, the
// starter config on a first start, lifecycle), phone.go `parley phone`.
//
//	parley serve [flags]     run the server (registrar, digest authentication, PBX, proxy, admin console)
//	parley phone ...         the command-line softphone: call, answer, message, register
//	parley cdr [flags]       print the last calls (call detail records)
//	parley version           print the version
//	parley help              print this help
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=..."; when
// unset, the module version from the build info is used.
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "parley", versionString())
		return 0
	case "help", "--help", "-h":
		usage(stdout)
		return 0
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "phone":
		return phone(args[1:], stdout, stderr)
	case "cdr":
		return cdrCommand(args[1:], stdout, stderr)
	case "admin-password":
		return adminPassword(args[1:], os.Stdin, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "parley: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Parley: a SIP server (registrar, digest authentication, PBX with media relay, forking proxy, admin console) and softphone.

Usage:
  parley serve [flags]     run the server on embedded defaults or a config file
  parley phone ...         the softphone: call, answer, message, register
  parley cdr [flags]       print the last calls, one a line (works while the server runs)
  parley admin-password    read a password on stdin, print its admin.users password_hash
  parley version           print the version
  parley help              print this help

Run "parley serve --help" for the server's flags.
`)
}
