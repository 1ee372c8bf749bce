from bpfscope.cli import main

raise SystemExit(main())
