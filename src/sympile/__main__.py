from ._discovery.cli import main

raise SystemExit(main())
