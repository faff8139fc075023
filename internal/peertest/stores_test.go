package peertest

import (
	"net"
	"strconv"
	"testing"
	"time"
)

func TestStartRedisAndRestart(t *testing.T) {
	r := StartRedis(t)
	if !waitTCP(r.Port, time.Second, nil) {
		t.Fatal("not listening")
	}
	r.Stop()
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(r.Port), time.Second); err == nil {
		c.Close()
		t.Fatal("still listening after Stop")
	}
	r.Start()
}

func TestStartPostgresAndRestart(t *testing.T) {
	p := StartPostgres(t)
	if !waitTCP(p.Port, time.Second, nil) {
		t.Fatal("not listening")
	}
	p.Stop()
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p.Port), time.Second); err == nil {
		c.Close()
		t.Fatal("still listening after Stop")
	}
	p.Start()
}
