# want: Invalid port spec
service "bad" { ports = ["http/80"] }
