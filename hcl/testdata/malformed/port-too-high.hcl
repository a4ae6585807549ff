# want: Invalid port spec
service "bad" { ports = ["tcp/70000"] }
