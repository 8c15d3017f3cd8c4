from mlmdsl.cli import main

raise SystemExit(main())
