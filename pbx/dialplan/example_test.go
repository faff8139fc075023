package dialplan_test

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/parley-sip/parley/pbx/dialplan"
)

func ExampleParse() {
	var doc struct {
		Dialplan yaml.Node `yaml:"dialplan"`
	}
	_ = yaml.Unmarshal([]byte(`
dialplan:
  extensions:
    "100": alice
  users:
    alice:
      forward: {no_answer: "200", after: 15s}
  routes:
    - match: "200"
      group: {strategy: sequential, members: [bob, carol], member_timeout: 10s}
    - match: "_9."
      proxy: "sip:gw.example.net"
`), &doc)
	plan, err := dialplan.Parse(&doc.Dialplan, dialplan.Options{Users: []string{"alice", "bob", "carol"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, dialled := range []string{"100", "200", "9555", "bob", "300"} {
		route, ok := plan.Match(dialled, "alice")
		fmt.Println(dialled, ok, route)
	}
	fmt.Println(plan.User("alice").ForwardNoAnswer, plan.User("alice").NoAnswerAfter)
	// Output:
	// 100 true 100 → user alice media relay
	// 200 true 200 → group sequential media relay
	// 9555 true _9. → proxy sip:gw.example.net media none
	// bob true bob → user bob media relay
	// 300 false no route
	// 200 15s
}

func ExampleParse_error() {
	var doc struct {
		Dialplan yaml.Node `yaml:"dialplan"`
	}
	_ = yaml.Unmarshal([]byte(`
dialplan:
  routes:
    - match: "400"
      forward: "401"
    - match: "401"
      forward: "400"
`), &doc)
	_, err := dialplan.Parse(&doc.Dialplan, dialplan.Options{})
	fmt.Println(err)
	// Output:
	// line 6: forward loop: 400 → 401 → 400
}
