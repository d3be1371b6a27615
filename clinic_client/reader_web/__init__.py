"""The patient-facing reader page (顔認証付きカードリーダーの画面): `clinic reader-serve`."""
