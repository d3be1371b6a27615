"""The lookup the qualification side needs (the 情報提供ネットワーク role).

The qualification server depends on `QualificationSource` only, and picks one of two
implementations: `RegistryQualificationSource` (in process, over the registry's database) or
`HttpQualificationSource` (over the network endpoint, with a `net_…` credential). Both
answer with the same frozen values.
"""

from insurer_registry.lookup.types import (
    InsuredNumber,
    PersonQualifications,
    QualificationInfo,
    QualificationSource,
)

__all__ = ["InsuredNumber", "PersonQualifications", "QualificationInfo", "QualificationSource"]
