module github.com/parley-sip/parley

go 1.26

require (
	github.com/coder/websocket v1.8.15
	github.com/pion/rtcp v1.2.20
	github.com/pion/rtp v1.10.6
	gopkg.in/yaml.v3 v3.0.1
)

require github.com/pion/randutil v0.1.0 // indirect
