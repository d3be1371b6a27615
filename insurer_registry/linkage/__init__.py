"""The linkage of an insured number to a person: every registration's four items (氏名・
生年月日・性別・住所) matched against the card issuer's resident register, a mismatch held
(stored, not answered) until the insurer corrects it or two of its users confirm it, and every
step recorded for the insurer's report and the person's own view (docs/linkage.md)."""
