import sys, json
import gfrpc.transport.tls as t
t._TLS_SLICE = int(sys.argv[1]) * 1024
from gfrpc.bench.transport import main
sys.exit(main(["--pollers", "single", "--connections", "1", "--tls", "on", "--repeats", "3", "--seconds", "1.5", "--quiet", "--json", sys.argv[2]]))
