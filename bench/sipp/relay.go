package main

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
)

// md5Relay relays UDP between one client (SIPp) and a server, removing
// SHA-256 challenges from what the server sends: SIPp 3.6.1 answers only
// the first WWW-Authenticate and only with MD5 ("createAuthHeader:
// authentication must use MD5 or AKAv1-MD5"), while Parley offers SHA-256
// first and MD5 second (RFC 8760 §2.4). Kamailio, offering MD5 only, is
// reached through the same relay so both paths are alike. Its CPU is the
// harness's, not the server's.
type md5Relay struct {
	front, back *net.UDPConn
	client      atomic.Pointer[net.UDPAddr]
	wg          sync.WaitGroup
}

func startMD5Relay(server string) (*md5Relay, error) {
	srv, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		return nil, err
	}
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	back, err := net.DialUDP("udp", nil, srv)
	if err != nil {
		front.Close()
		return nil, err
	}
	for _, c := range []*net.UDPConn{front, back} {
		c.SetReadBuffer(4 << 20)
		c.SetWriteBuffer(4 << 20)
	}
	r := &md5Relay{front: front, back: back}
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if c := r.client.Load(); c == nil || !c.IP.Equal(from.IP) || c.Port != from.Port {
				r.client.Store(from)
			}
			back.Write(buf[:n])
		}
	}()
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, err := back.Read(buf)
			if err != nil {
				return
			}
			if to := r.client.Load(); to != nil {
				front.WriteToUDP(dropSHA256Challenges(buf[:n]), to)
			}
		}
	}()
	return r, nil
}

func (r *md5Relay) addr() string { return r.front.LocalAddr().String() }

func (r *md5Relay) close() {
	r.front.Close()
	r.back.Close()
	r.wg.Wait()
}

// dropSHA256Challenges removes challenge header lines naming SHA-256.
func dropSHA256Challenges(msg []byte) []byte {
	if !strings.Contains(string(msg), "SHA-256") {
		return msg
	}
	head, body, ok := strings.Cut(string(msg), "\r\n\r\n")
	if !ok {
		return msg
	}
	lines := strings.Split(head, "\r\n")
	out := lines[:0]
	for _, l := range lines {
		name, _, _ := strings.Cut(l, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if (name == "www-authenticate" || name == "proxy-authenticate") && strings.Contains(l, "SHA-256") {
			continue
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\r\n") + "\r\n\r\n" + body)
}
