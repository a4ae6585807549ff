# want: Invalid port spec
service "bad" { ports = ["sctp/x"] }
