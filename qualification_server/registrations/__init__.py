"""初回登録 (at a reader or the portal), its withdrawal, and the person's view of who looked."""
