package sip

// Common status codes (RFC 3261 §21 and extensions).
const (
	StatusTrying                      = 100
	StatusRinging                     = 180
	StatusCallIsBeingForwarded        = 181
	StatusQueued                      = 182
	StatusSessionProgress             = 183
	StatusOK                          = 200
	StatusAccepted                    = 202
	StatusMultipleChoices             = 300
	StatusMovedPermanently            = 301
	StatusMovedTemporarily            = 302
	StatusUseProxy                    = 305
	StatusBadRequest                  = 400
	StatusUnauthorized                = 401
	StatusForbidden                   = 403
	StatusNotFound                    = 404
	StatusMethodNotAllowed            = 405
	StatusNotAcceptable               = 406
	StatusProxyAuthRequired           = 407
	StatusRequestTimeout              = 408
	StatusGone                        = 410
	StatusRequestEntityTooLarge       = 413
	StatusRequestURITooLong           = 414
	StatusUnsupportedMediaType        = 415
	StatusUnsupportedURIScheme        = 416
	StatusBadExtension                = 420
	StatusExtensionRequired           = 421
	StatusIntervalTooBrief            = 423
	StatusTemporarilyUnavailable      = 480
	StatusCallTransactionDoesNotExist = 481
	StatusLoopDetected                = 482
	StatusTooManyHops                 = 483
	StatusAddressIncomplete           = 484
	StatusAmbiguous                   = 485
	StatusBusyHere                    = 486
	StatusRequestTerminated           = 487
	StatusNotAcceptableHere           = 488
	StatusRequestPending              = 491
	StatusUndecipherable              = 493
	StatusServerInternalError         = 500
	StatusNotImplemented              = 501
	StatusBadGateway                  = 502
	StatusServiceUnavailable          = 503
	StatusServerTimeout               = 504
	StatusVersionNotSupported         = 505
	StatusMessageTooLarge             = 513
	StatusBusyEverywhere              = 600
	StatusDecline                     = 603
	StatusDoesNotExistAnywhere        = 604
	StatusNotAcceptableAnywhere       = 606
)

var reasonPhrases = map[int]string{
	100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
	183: "Session Progress", 199: "Early Dialog Terminated",
	200: "OK", 202: "Accepted", 204: "No Notification",
	300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
	305: "Use Proxy", 380: "Alternative Service",
	400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
	404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
	407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
	412: "Conditional Request Failed", 413: "Request Entity Too Large",
	414: "Request-URI Too Long", 415: "Unsupported Media Type",
	416: "Unsupported URI Scheme", 417: "Unknown Resource-Priority",
	420: "Bad Extension", 421: "Extension Required", 422: "Session Interval Too Small",
	423: "Interval Too Brief", 428: "Use Identity Header", 429: "Provide Referrer Identity",
	430: "Flow Failed", 433: "Anonymity Disallowed", 439: "First Hop Lacks Outbound Support",
	480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
	482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete",
	485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
	488: "Not Acceptable Here", 489: "Bad Event", 491: "Request Pending",
	493: "Undecipherable", 494: "Security Agreement Required",
	500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
	503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
	513: "Message Too Large", 555: "Push Notification Service Not Supported",
	580: "Precondition Failure",
	600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
	606: "Not Acceptable", 607: "Unwanted", 608: "Rejected",
}

// ReasonPhrase returns the standard reason phrase for a status code, or a
// generic one for its class when the code is not known.
func ReasonPhrase(code int) string {
	if r, ok := reasonPhrases[code]; ok {
		return r
	}
	switch code / 100 {
	case 1:
		return "Provisional"
	case 2:
		return "Success"
	case 3:
		return "Redirection"
	case 4:
		return "Client Error"
	case 5:
		return "Server Error"
	case 6:
		return "Global Failure"
	}
	return "Unknown"
}
