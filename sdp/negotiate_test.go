package sdp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestBuildOfferAndProcessAnswer(t *testing.T) {
	local := localVoice()
	local.SessionID = 0 // generated
	local.SessionVersion = 0
	offer, err := BuildOffer(local)
	if err != nil {
		t.Fatal(err)
	}
	if offer.Origin.SessionID == 0 || offer.Origin.SessionID >= 1<<62 {
		t.Errorf("session id %d", offer.Origin.SessionID)
	}
	want := "m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
	if got := offer.String(); !strings.HasSuffix(got, want) || !strings.Contains(got, "\r\nc=IN IP4 203.0.113.1\r\n") {
		t.Errorf("offer:\n%s", got)
	}
	checkRoundTrip(t, offer.Marshal())

	// The far end (with G722 first, which we did not offer) answers.
	remote := localG722()
	remote.Address = netip.MustParseAddr("198.51.100.9")
	remote.Media[0].Port = 30000
	remote.Media[0].Codecs[0], remote.Media[0].Codecs[2] = remote.Media[0].Codecs[2], remote.Media[0].Codecs[0] // PCMA first
	answer, theirs, err := BuildAnswer(offer, remote)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := ProcessAnswer(offer, answer)
	if err != nil {
		t.Fatal(err)
	}
	st := ours[0]
	if st.Rejected || st.Codec.Name != "PCMU" || st.Codec.PayloadType != 0 {
		t.Errorf("codec: %+v (offerer order must win)", st)
	}
	if st.TelephoneEvent == nil || st.TelephoneEvent.PayloadType != 101 {
		t.Errorf("telephone-event %+v", st.TelephoneEvent)
	}
	if st.RemoteAddr != netip.MustParseAddrPort("198.51.100.9:30000") || st.LocalPort != 40000 {
		t.Errorf("addresses %v local %d", st.RemoteAddr, st.LocalPort)
	}
	if st.Direction != SendRecv || st.Ptime != 20*time.Millisecond {
		t.Errorf("direction %v ptime %v", st.Direction, st.Ptime)
	}
	if theirs[0].RemoteAddr != netip.MustParseAddrPort("203.0.113.1:40000") {
		t.Errorf("answerer's remote %v", theirs[0].RemoteAddr)
	}

	// Hold: re-offer sendonly, version increments, the far end answers recvonly.
	hold := offer.Reoffer()
	hold.Hold()
	if hold.Origin.SessionVersion != offer.Origin.SessionVersion+1 || hold.Origin.SessionID != offer.Origin.SessionID {
		t.Errorf("reoffer origin %+v vs %+v", hold.Origin, offer.Origin)
	}
	remote.SessionID, remote.SessionVersion = answer.Origin.SessionID, answer.Origin.SessionVersion+1
	hans, _, err := BuildAnswer(hold, remote)
	if err != nil {
		t.Fatal(err)
	}
	if d := hans.Direction(hans.Media[0]); d != RecvOnly {
		t.Errorf("answer to hold is %v", d)
	}
	hs, err := ProcessAnswer(hold, hans)
	if err != nil || hs[0].Direction != SendOnly || hs[0].RemoteDirection != RecvOnly {
		t.Fatalf("hold streams %+v %v", hs, err)
	}

	// Resume and add video in one re-offer.
	re := hold.Reoffer()
	re.SetDirection(SendRecv)
	vid, err := NewOfferMedia(local, &LocalMedia{Type: "video", Port: 40002, Codecs: []Codec{{PayloadType: 96, Name: "H264", ClockRate: 90000, Fmtp: "packetization-mode=1"}}})
	if err != nil {
		t.Fatal(err)
	}
	re.Media = append(re.Media, vid)
	if re.Origin.SessionVersion != offer.Origin.SessionVersion+2 {
		t.Errorf("version %d", re.Origin.SessionVersion)
	}
	// An audio-only far end rejects the video.
	rans, _, err := BuildAnswer(re, remote)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ProcessAnswer(re, rans)
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Direction != SendRecv || rs[0].Rejected || !rs[1].Rejected || rans.Media[1].Port != 0 {
		t.Errorf("resume+video streams %+v", rs)
	}
	// A video-capable far end takes it.
	remote.Media = append(remote.Media, LocalMedia{Type: "video", Port: 30002, Codecs: []Codec{{PayloadType: 100, Name: "h264", ClockRate: 90000}}})
	rans, _, err = BuildAnswer(re, remote)
	if err != nil {
		t.Fatal(err)
	}
	rs, err = ProcessAnswer(re, rans)
	if err != nil {
		t.Fatal(err)
	}
	if rs[1].Rejected || rs[1].Codec.PayloadType != 96 || rs[1].RemoteAddr.Port() != 30002 || rs[1].TelephoneEvent != nil {
		t.Errorf("video stream %+v", rs[1])
	}
}

func TestProcessAnswerErrors(t *testing.T) {
	offer, err := BuildOffer(localVideo())
	if err != nil {
		t.Fatal(err)
	}
	good := "v=0\no=- 9 9 IN IP4 198.51.100.9\ns=-\nc=IN IP4 198.51.100.9\nt=0 0\nm=audio 30000 RTP/AVP 8 101\na=rtpmap:101 telephone-event/8000\nm=video 0 RTP/AVP 96\n"
	if _, err := ProcessAnswer(offer, mustParse(t, good)); err != nil {
		t.Fatalf("good answer refused: %v", err)
	}
	tests := []struct{ name, answer, msg string }{
		{"fewer m-lines", "v=0\no=- 9 9 IN IP4 198.51.100.9\nc=IN IP4 198.51.100.9\nm=audio 30000 RTP/AVP 0\n", "1 m-lines, offer had 2"},
		{"more m-lines", good + "m=audio 30004 RTP/AVP 0\n", "3 m-lines"},
		{"swapped types", strings.Replace(strings.Replace(good, "m=audio", "m=xxx", 1), "m=video", "m=audio", 1), "is xxx in the answer"},
		{"codec not offered", strings.Replace(good, "RTP/AVP 8 101", "RTP/AVP 18", 1), "payload type 18 was not offered"},
		{"remapped pt", strings.Replace(good, "RTP/AVP 8 101", "RTP/AVP 0\na=rtpmap:0 G729/8000", 1), "PCMU/8000 in the offer"},
		{"only dtmf", strings.Replace(good, "RTP/AVP 8 101", "RTP/AVP 101", 1), "lists no codec"},
		{"non-numeric format", strings.Replace(good, "RTP/AVP 8 101", "RTP/AVP PCMU", 1), "not a payload type"},
		{"no connection", strings.Replace(good, "c=IN IP4 198.51.100.9\n", "", 1), "no c= line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ProcessAnswer(offer, mustParse(t, tc.answer))
			if !errors.Is(err, ErrBadAnswer) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want ErrBadAnswer mentioning %q", err, tc.msg)
			}
		})
	}
}

func TestProcessAnswerNonConformingDirection(t *testing.T) {
	offer, _ := BuildOffer(localHold()) // we offer sendonly
	ans := mustParse(t, "v=0\no=- 9 9 IN IP4 198.51.100.9\nc=IN IP4 198.51.100.9\nm=audio 30000 RTP/AVP 0\na=sendonly\n")
	st, err := ProcessAnswer(offer, ans)
	if err != nil {
		t.Fatal(err)
	}
	// Both want to only send: nobody receives, so nothing may flow.
	if st[0].Direction != Inactive {
		t.Errorf("direction %v, want inactive", st[0].Direction)
	}
}

func TestBuildAnswerDetails(t *testing.T) {
	t.Run("second stream of a type needs a second local entry", func(t *testing.T) {
		offer := mustParse(t, "v=0\no=- 1 1 IN IP4 192.0.2.1\nc=IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP 0\nm=audio 4002 RTP/AVP 0\n")
		ans, st, err := BuildAnswer(offer, localVoice())
		if err != nil {
			t.Fatal(err)
		}
		if ans.Media[0].Port != 40000 || ans.Media[1].Port != 0 || !st[1].Rejected {
			t.Errorf("answer\n%s", ans)
		}
		two := localVoice()
		two.Media = append(two.Media, two.Media[0])
		two.Media[1].Port = 40010
		ans, _, err = BuildAnswer(offer, two)
		if err != nil || ans.Media[1].Port != 40010 {
			t.Errorf("answer %v\n%s", err, ans)
		}
	})
	t.Run("disabled offered stream stays disabled", func(t *testing.T) {
		offer := mustParse(t, "v=0\no=- 1 1 IN IP4 192.0.2.1\nc=IN IP4 192.0.2.1\nm=audio 0 RTP/AVP 0\nm=audio 4002 RTP/AVP 0\n")
		ans, _, err := BuildAnswer(offer, localVoice())
		if err != nil || ans.Media[0].Port != 0 || ans.Media[1].Port != 40000 {
			t.Errorf("%v\n%s", err, ans)
		}
	})
	t.Run("dtmf needs both sides", func(t *testing.T) {
		l := localVoice()
		l.Media[0].TelephoneEvent = false
		ans, st, err := BuildAnswer(mustParse(t, asteriskOffer), l)
		if err != nil || strings.Contains(ans.String(), "telephone-event") || st[0].TelephoneEvent != nil {
			t.Errorf("%v\n%s", err, ans)
		}
		off := strings.Replace(asteriskOffer, " 101\n", "\n", 1)
		ans, _, err = BuildAnswer(mustParse(t, off), localVoice())
		if err != nil || strings.Contains(ans.String(), "telephone-event") {
			t.Errorf("%v\n%s", err, ans)
		}
	})
	t.Run("rtcp-mux only when offered", func(t *testing.T) {
		l := localVoice()
		l.Media[0].RTCPMux = true
		ans, st, _ := BuildAnswer(mustParse(t, asteriskOffer), l)
		if ans.Media[0].Attributes.Has("rtcp-mux") || st[0].RTCPMux {
			t.Error("rtcp-mux answered without offer")
		}
		ans, st, _ = BuildAnswer(mustParse(t, asteriskOffer+"a=rtcp-mux\n"), l)
		if !ans.Media[0].Attributes.Has("rtcp-mux") || !st[0].RTCPMux {
			t.Error("rtcp-mux not answered")
		}
	})
	t.Run("stream details", func(t *testing.T) {
		_, st, err := BuildAnswer(mustParse(t, asteriskOffer), localVoice())
		if err != nil {
			t.Fatal(err)
		}
		s := st[0]
		if s.Codec.String() != "PCMU/8000" || len(s.Codecs) != 2 || s.TelephoneEvent.Fmtp != "0-16" ||
			s.RemoteAddr != netip.MustParseAddrPort("10.0.0.5:17274") || s.Direction != SendRecv || s.Ptime != 20*time.Millisecond {
			t.Errorf("%+v", s)
		}
	})
	t.Run("bad local config", func(t *testing.T) {
		for _, l := range []*Local{
			{},
			{Address: netip.MustParseAddr("192.0.2.1"), Media: []LocalMedia{{Type: "audio", Port: 0}}},
			{Address: netip.MustParseAddr("192.0.2.1"), Media: []LocalMedia{{Type: "audio", Port: 5, Codecs: []Codec{{PayloadType: 0, Name: "PCMU", ClockRate: 8000}, {PayloadType: 0, Name: "PCMA", ClockRate: 8000}}}}},
		} {
			if _, _, err := BuildAnswer(mustParse(t, asteriskOffer), l); err == nil {
				t.Errorf("accepted %+v", l)
			}
			if _, err := BuildOffer(l); err == nil {
				t.Errorf("offer accepted %+v", l)
			}
		}
		if _, _, err := BuildAnswer(nil, localVoice()); err == nil {
			t.Error("nil offer accepted")
		}
	})
	t.Run("ipv6 and per-stream address", func(t *testing.T) {
		l := localVideo()
		l.Address = netip.MustParseAddr("2001:db8::1")
		off, err := BuildOffer(l)
		if err != nil {
			t.Fatal(err)
		}
		s := off.String()
		if !strings.Contains(s, "o=- 1234 1 IN IP6 2001:db8::1\r\n") || !strings.Contains(s, "m=video 40002 RTP/AVP 96\r\nc=IN IP4 203.0.113.2\r\n") {
			t.Errorf("offer:\n%s", s)
		}
	})
}

func TestTelephoneEventPerClockRate(t *testing.T) {
	l := localVoice()
	l.Media[0].Codecs = []Codec{{PayloadType: 111, Name: "opus", ClockRate: 48000, Channels: 2}, {PayloadType: 101, Name: "G722", ClockRate: 8000}, {PayloadType: 0, Name: "PCMU", ClockRate: 8000}}
	off, err := BuildOffer(l)
	if err != nil {
		t.Fatal(err)
	}
	m := off.Media[0]
	if strings.Join(m.Formats, " ") != "111 101 0 102 103" {
		t.Errorf("formats %v", m.Formats)
	}
	for pt, rate := range map[uint8]int{102: 48000, 103: 8000} {
		if c, ok := m.RTPMap(pt); !ok || !c.IsTelephoneEvent() || c.ClockRate != rate {
			t.Errorf("pt %d: %v", pt, c)
		}
	}
}

func TestNegotiationError(t *testing.T) {
	_, _, err := BuildAnswer(mustParse(t, "v=0\no=- 1 1 IN IP4 192.0.2.1\nc=IN IP4 192.0.2.1\nm=audio 4000 RTP/AVP 18\n"), localVoice())
	var ne *NegotiationError
	if !errors.As(err, &ne) || ne.Code != 488 || ne.Reason != "Not Acceptable Here" || ne.Warning != 305 {
		t.Fatalf("%#v", err)
	}
	// No m-lines at all is a legal (if useless) offer: answered, not refused.
	ans, _, err := BuildAnswer(mustParse(t, "v=0\no=- 1 1 IN IP4 192.0.2.1\n"), localVoice())
	if err != nil || len(ans.Media) != 0 {
		t.Errorf("%v %v", ans, err)
	}
}

func mustParse(t testing.TB, s string) *Session {
	t.Helper()
	sess, err := Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return sess
}
