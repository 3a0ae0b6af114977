// Command chartenv prints the spawner service's environment as the Helm
// chart configures it, for running the service on this machine (the demo,
// hack/demo.sh): one KEY=VALUE per line, after writing the chart's
// ConfigMap files into --config-dir. Arguments after the flags go to
// `helm template` (values files, --set, --set-file). See helm/chartenv.
//
//	go run ./hack/chartenv --namespace kubedesk-demo --kubeconfig … \
//	  --listen 127.0.0.1:8090 --ops-listen 127.0.0.1:9091 \
//	  --session-service-url http://127.0.0.1:8090 \
//	  --hub-token-file … --session-key-file … --config-dir … \
//	  -- -f examples/demo/values.yaml
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"kubedesk.dev/kubedesk/helm/chartenv"
)

func main() {
	var h chartenv.Host
	helm := flag.String("helm", ".cache/bin/helm", "the helm binary")
	chart := flag.String("chart", "helm/kubedesk", "the chart")
	flag.StringVar(&h.Namespace, "namespace", "", "namespace of the sessions (the chart's release namespace)")
	flag.StringVar(&h.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster")
	flag.StringVar(&h.Listen, "listen", "", "API address")
	flag.StringVar(&h.OpsListen, "ops-listen", "", "/readyz and /metrics address")
	flag.StringVar(&h.SessionServiceURL, "session-service-url", "", "the service's URL as session pods reach it")
	flag.StringVar(&h.HubTokenFile, "hub-token-file", "", "file of the hub's token")
	flag.StringVar(&h.SessionKeyFile, "session-key-file", "", "file of the session-token signing key")
	flag.StringVar(&h.ConfigDir, "config-dir", "", "folder that receives the chart's ConfigMap files")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	s, err := chartenv.Render(ctx, *helm, *chart, flag.Args(), h)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chartenv:", err)
		os.Exit(1)
	}
	fmt.Println(strings.Join(s.Env, "\n"))
}
