from correspondence_guard.cli import main

raise SystemExit(main())
