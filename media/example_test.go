package media_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/sdp"
)

// Two sessions on loopback: a plays a 1 kHz tone to b, which records it.
// A softphone does the same with OpenWAV as the source, CreateWAV as the
// sink, and the addresses from the SDP offer/answer.
func Example() {
	a, err := media.NewSession(media.Config{
		LocalAddr: netip.MustParseAddr("127.0.0.1"),
		PortMin:   0, PortMax: 0, // or e.g. 16384, 32767 from the config
		Codec: media.PCMU,
	})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := media.NewSession(media.Config{LocalAddr: netip.MustParseAddr("127.0.0.1"), Symmetric: true})
	if err != nil {
		panic(err)
	}
	defer b.Close()

	// From the SDP answer: c= address and m= port (RTCP on port+1).
	a.SetRemote(b.LocalAddr(), netip.AddrPort{})

	rec := &media.BufferSink{}
	b.Record(rec)
	done := a.Play(media.NewTone(1000, 8000, 8000, 500*time.Millisecond))
	if err := <-done; err != nil {
		panic(err)
	}
	time.Sleep(300 * time.Millisecond) // playout delay

	freq, _ := media.DominantFrequency(rec.Samples(), 8000)
	fmt.Println("b heard", freq, "Hz")
	fmt.Println("b latched a's address:", b.RemoteAddr() == a.LocalAddr())
	st := b.Stats()
	fmt.Println("lost:", st.Lost, "late:", st.Late)
	// Output:
	// b heard 1000 Hz
	// b latched a's address: true
	// lost: 0 late: 0
}

func ExampleSession_SendDTMF() {
	digits := make(chan rune, 8)
	b, _ := media.NewSession(media.Config{
		LocalAddr:       netip.MustParseAddr("127.0.0.1"),
		DTMFPayloadType: 101, // from a=rtpmap:101 telephone-event/8000
		OnDTMF:          func(e media.DTMFEvent) { digits <- e.Digit },
	})
	defer b.Close()
	a, _ := media.NewSession(media.Config{LocalAddr: netip.MustParseAddr("127.0.0.1")})
	defer a.Close()
	a.SetRemote(b.LocalAddr(), netip.AddrPort{})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.SendDTMF(ctx, "42#", 100*time.Millisecond); err != nil {
		panic(err)
	}
	for range 3 {
		fmt.Printf("%c", <-digits)
	}
	fmt.Println()
	// Output: 42#
}

func ExampleDominantFrequency() {
	frame := make([]int16, 8000)
	media.NewTone(440, 10000, 8000, 0).ReadFrame(frame)
	f, level := media.DominantFrequency(frame, 8000)
	fmt.Printf("%.0f Hz at level %.1fk\n", f, level/1000)
	fmt.Printf("1 kHz level: %.0f\n", media.ToneLevel(frame, 1000, 8000))
	// Output:
	// 440 Hz at level 10.0k
	// 1 kHz level: 0
}

func ExampleEncodeUlaw() {
	pcm := []int16{0, 1000, -1000, 32767}
	payload := make([]byte, len(pcm))
	media.EncodeUlaw(payload, pcm)
	out := make([]int16, len(pcm))
	media.DecodeUlaw(out, payload)
	fmt.Printf("% x → %v\n", payload, out)
	// Output: ff ce 4e 80 → [0 988 -988 32124]
}

func ExampleOpenWAV() {
	r, err := media.OpenWAV("testdata/tone1k_16k_stereo.wav", 8000)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	fmt.Printf("file: %d Hz, %d channels\n", r.Format.SampleRate, r.Format.Channels)
	frame := make([]int16, 160) // 20 ms at 8 kHz, mono
	frames := 0
	for r.ReadFrame(frame) == nil {
		frames++
	}
	fmt.Println("frames of 20 ms:", frames)
	// Output:
	// file: 16000 Hz, 2 channels
	// frames of 20 ms: 25
}

// A B2BUA anchoring a call's media: one allocator for the whole process
// (shared with Sessions), one relay, and per call a RelayCall that rewrites
// each SDP on its way from one leg to the other.
func ExampleRelayCall() {
	ports, err := media.NewPortAllocator(47000, 47099) // config media.rtp_ports
	if err != nil {
		panic(err)
	}
	relay, err := media.NewRelay(media.RelayConfig{LocalAddr: netip.MustParseAddr("127.0.0.1"), Ports: ports})
	if err != nil {
		panic(err)
	}
	defer relay.Close()

	offer, _ := sdp.Parse([]byte("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"))
	call := relay.NewCall()
	defer call.Close()                                // at BYE: sockets closed, ports back to the allocator
	toCallee, err := call.Rewrite(media.SideA, offer) // the INVITE's offer, for the callee leg
	if err != nil {
		panic(err) // a *sip.StatusError 503 when the port range is exhausted
	}
	rtp, _ := toCallee.RTPAddr(toCallee.Media[0])
	fmt.Println(rtp.Addr(), rtp.Port()%2 == 0, toCallee.Media[0].Formats)
	fmt.Println(ports.Stats().InUse, "port pairs in use")
	// Output:
	// 127.0.0.1 true [0 101]
	// 2 port pairs in use
}
