from nix_tag_check.main import main

raise SystemExit(main())
