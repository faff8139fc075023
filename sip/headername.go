package sip

// headerID identifies a header field known to this package, so that lookups
// compare one byte instead of folding case on every name. Unknown headers
// have id hUnknown and are compared by name.
type headerID uint8

const (
	hUnknown headerID = iota
	hAccept
	hAcceptContact
	hAcceptEncoding
	hAcceptLanguage
	hAlertInfo
	hAllow
	hAllowEvents
	hAuthenticationInfo
	hAuthorization
	hCallID
	hCallInfo
	hContact
	hContentDisposition
	hContentEncoding
	hContentLanguage
	hContentLength
	hContentType
	hCSeq
	hDate
	hErrorInfo
	hEvent
	hExpires
	hFrom
	hIdentity
	hInReplyTo
	hMaxForwards
	hMinExpires
	hMinSE
	hMIMEVersion
	hOrganization
	hPath
	hPriority
	hPrivacy
	hProxyAuthenticate
	hProxyAuthorization
	hProxyRequire
	hRAck
	hReason
	hRecordRoute
	hReferredBy
	hReferTo
	hRejectContact
	hReplaces
	hReplyTo
	hRequestDisposition
	hRequire
	hRetryAfter
	hRoute
	hRSeq
	hServer
	hServiceRoute
	hSessionExpires
	hSIPETag
	hSIPIfMatch
	hSubject
	hSubscriptionState
	hSupported
	hTimestamp
	hTo
	hUnsupported
	hUserAgent
	hVia
	hWarning
	hWWWAuthenticate
	numHeaderIDs
)

// canonicalNames holds the long form of each known header as RFC 3261 §20
// and the extension RFCs spell it; the writer uses it for known headers.
var canonicalNames = [numHeaderIDs]string{
	hAccept:             "Accept",
	hAcceptContact:      "Accept-Contact",
	hAcceptEncoding:     "Accept-Encoding",
	hAcceptLanguage:     "Accept-Language",
	hAlertInfo:          "Alert-Info",
	hAllow:              "Allow",
	hAllowEvents:        "Allow-Events",
	hAuthenticationInfo: "Authentication-Info",
	hAuthorization:      "Authorization",
	hCallID:             "Call-ID",
	hCallInfo:           "Call-Info",
	hContact:            "Contact",
	hContentDisposition: "Content-Disposition",
	hContentEncoding:    "Content-Encoding",
	hContentLanguage:    "Content-Language",
	hContentLength:      "Content-Length",
	hContentType:        "Content-Type",
	hCSeq:               "CSeq",
	hDate:               "Date",
	hErrorInfo:          "Error-Info",
	hEvent:              "Event",
	hExpires:            "Expires",
	hFrom:               "From",
	hIdentity:           "Identity",
	hInReplyTo:          "In-Reply-To",
	hMaxForwards:        "Max-Forwards",
	hMinExpires:         "Min-Expires",
	hMinSE:              "Min-SE",
	hMIMEVersion:        "MIME-Version",
	hOrganization:       "Organization",
	hPath:               "Path",
	hPriority:           "Priority",
	hPrivacy:            "Privacy",
	hProxyAuthenticate:  "Proxy-Authenticate",
	hProxyAuthorization: "Proxy-Authorization",
	hProxyRequire:       "Proxy-Require",
	hRAck:               "RAck",
	hReason:             "Reason",
	hRecordRoute:        "Record-Route",
	hReferredBy:         "Referred-By",
	hReferTo:            "Refer-To",
	hRejectContact:      "Reject-Contact",
	hReplaces:           "Replaces",
	hReplyTo:            "Reply-To",
	hRequestDisposition: "Request-Disposition",
	hRequire:            "Require",
	hRetryAfter:         "Retry-After",
	hRoute:              "Route",
	hRSeq:               "RSeq",
	hServer:             "Server",
	hServiceRoute:       "Service-Route",
	hSessionExpires:     "Session-Expires",
	hSIPETag:            "SIP-ETag",
	hSIPIfMatch:         "SIP-If-Match",
	hSubject:            "Subject",
	hSubscriptionState:  "Subscription-State",
	hSupported:          "Supported",
	hTimestamp:          "Timestamp",
	hTo:                 "To",
	hUnsupported:        "Unsupported",
	hUserAgent:          "User-Agent",
	hVia:                "Via",
	hWarning:            "Warning",
	hWWWAuthenticate:    "WWW-Authenticate",
}

// compactForms maps the one-letter names of RFC 3261 §7.3.3 and later RFCs
// (RFC 3265, 3515, 3892, 3841, 4028, 4474) to their headers.
var compactForms = ['z' + 1]headerID{
	'a': hAcceptContact,
	'b': hReferredBy,
	'c': hContentType,
	'd': hRequestDisposition,
	'e': hContentEncoding,
	'f': hFrom,
	'i': hCallID,
	'j': hRejectContact,
	'k': hSupported,
	'l': hContentLength,
	'm': hContact,
	'o': hEvent,
	'r': hReferTo,
	's': hSubject,
	't': hTo,
	'u': hAllowEvents,
	'v': hVia,
	'x': hSessionExpires,
	'y': hIdentity,
}

// listHeaders are the headers whose grammar is a comma-separated list
// (`#element`), so that one line may carry several values (§7.3.1). The
// authentication headers are not lists: their commas separate parameters.
var listHeaders = [numHeaderIDs]bool{
	hAccept: true, hAcceptContact: true, hAcceptEncoding: true, hAcceptLanguage: true,
	hAlertInfo: true, hAllow: true, hAllowEvents: true, hCallInfo: true, hContact: true,
	hContentEncoding: true, hContentLanguage: true, hErrorInfo: true, hInReplyTo: true,
	hPath: true, hPrivacy: true, hProxyRequire: true, hReason: true, hRecordRoute: true,
	hRejectContact: true, hRequire: true, hRoute: true, hServiceRoute: true,
	hSupported: true, hUnsupported: true, hVia: true, hWarning: true,
}

// headerIndex buckets the known long names by length and first letter:
// a lookup folds case on one or two candidates instead of hashing (the
// parser looks up every header line).
var headerIndex = func() (t [maxHeaderName + 1][26][]headerID) {
	for id := headerID(1); id < numHeaderIDs; id++ {
		n := canonicalNames[id]
		c := n[0] | 0x20
		t[len(n)][c-'a'] = append(t[len(n)][c-'a'], id)
	}
	return t
}()

// maxHeaderName is the length of the longest known name.
const maxHeaderName = len("Request-Disposition")

// equalFoldASCII compares ASCII strings case-insensitively; the names
// compared are tokens, so folding with 0x20 is exact for letters and the
// other token characters differ in more than that bit.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z' {
			return false
		}
	}
	return true
}

// lookupHeaderID returns the id of a header name in any case or compact form.
func lookupHeaderID(name string) headerID {
	if len(name) == 1 {
		c := name[0] | 0x20
		if 'a' <= c && c <= 'z' {
			return compactForms[c]
		}
		return hUnknown
	}
	if len(name) == 0 || len(name) > maxHeaderName {
		return hUnknown
	}
	c := name[0] | 0x20
	if c < 'a' || c > 'z' {
		return hUnknown
	}
	for _, id := range headerIndex[len(name)][c-'a'] {
		if equalFoldASCII(name, canonicalNames[id]) {
			return id
		}
	}
	return hUnknown
}

// CanonicalName returns the long, canonically capitalised form of a header
// name ("v" and "VIA" give "Via"); unknown names are returned unchanged.
func CanonicalName(name string) string {
	if id := lookupHeaderID(name); id != hUnknown {
		return canonicalNames[id]
	}
	return name
}
