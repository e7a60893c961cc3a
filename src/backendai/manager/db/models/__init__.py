"""All tables, importable from one place (Alembic's env reads ``Base.metadata`` from here)."""

from backendai.manager.db.meta import Base
from backendai.manager.db.models.apps import SessionAppRoute
from backendai.manager.db.models.batch import Sweep, TaskLogChunk
from backendai.manager.db.models.identity import Domain, Group, GroupMembership, KeyPair, User
from backendai.manager.db.models.images import Image, ImageAlias
from backendai.manager.db.models.operations import ConfigEntry, Dotfile, ErrorLog
from backendai.manager.db.models.policies import (
    GroupResourcePolicy,
    KeyPairResourcePolicy,
    ResourcePreset,
    UserResourcePolicy,
)
from backendai.manager.db.models.scaling import (
    Agent,
    ScalingGroup,
    ScalingGroupForDomain,
    ScalingGroupForGroup,
    ScalingGroupForKeyPair,
)
from backendai.manager.db.models.sessions import (
    Kernel,
    Session,
    SessionDependency,
    SessionStatusChange,
)
from backendai.manager.db.models.storage import (
    SessionTemplate,
    VFolder,
    VFolderInvitation,
    VFolderShare,
)

__all__ = [
    "Agent",
    "Base",
    "ConfigEntry",
    "Domain",
    "Dotfile",
    "ErrorLog",
    "Group",
    "GroupMembership",
    "GroupResourcePolicy",
    "Image",
    "ImageAlias",
    "Kernel",
    "KeyPair",
    "KeyPairResourcePolicy",
    "ResourcePreset",
    "ScalingGroup",
    "ScalingGroupForDomain",
    "ScalingGroupForGroup",
    "ScalingGroupForKeyPair",
    "Session",
    "SessionAppRoute",
    "SessionDependency",
    "SessionStatusChange",
    "SessionTemplate",
    "Sweep",
    "TaskLogChunk",
    "User",
    "UserResourcePolicy",
    "VFolder",
    "VFolderInvitation",
    "VFolderShare",
]
