namespace IfApi.Domain;

/// <summary>The BSD errno values the service answers with; each means one thing (SPEC §3).</summary>
public enum Errno
{
    EPERM,
    ENOENT,
    ENXIO,
    EBUSY,
    EEXIST,
    EINVAL,
    ENOSPC,
    ENAMETOOLONG,
    EOPNOTSUPP,
    EHOSTDOWN,
    /// <summary>The routing socket's answer to a reader that fell behind: what it missed is gone.</summary>
    ENOBUFS,
    /// <summary>A key was presented and is not one of ours (BSD's "Authentication error").</summary>
    EAUTH,
    /// <summary>No key was presented where one is needed (BSD's "Need authenticator").</summary>
    ENEEDAUTH,
    /// <summary>Too many devices open in this process (the system's file table is full).</summary>
    ENFILE,
    /// <summary>The version named in <c>If-Match</c> is not the interface's any more (NFS's stale handle).</summary>
    ESTALE,
    /// <summary>The store cannot be reached, or failed mid-commit: try again later.</summary>
    EAGAIN,
}

/// <summary>
/// The one error path: every refusal, failed precondition and unreachable store is an errno. Thrown
/// inside a store transaction so the transaction rolls back whole; one place in the host maps it to
/// problem+json.
/// </summary>
public sealed class IfError(Errno errno, string detail, string? ioctl = null, Exception? cause = null) : Exception(detail, cause)
{
    public Errno Errno { get; } = errno;
    public string? Ioctl { get; } = ioctl;

    /// <summary>The store is out of reach (or failed while committing, leaving the outcome unknown).</summary>
    public static IfError StoreUnavailable(string detail, Exception cause) => new(Errno.EAGAIN, detail, cause: cause);

    /// <summary><c>If-Match</c> names none of the versions the target is at.</summary>
    public static IfError Stale(string name, long version) =>
        new(Errno.ESTALE, $"'{name}' is at version {version}, which If-Match does not name; nothing was changed");
}

/// <summary>The ioctl each operation models, reported in problem bodies.</summary>
public static class Ioctl
{
    public const string IfCreate = "SIOCIFCREATE2";
    public const string IfDestroy = "SIOCIFDESTROY";
    public const string IfGClone = "SIOCIFGCLONERS";
    public const string IfGConf = "SIOCGIFCONF";
    public const string IfGet = "SIOCGIFFLAGS";
    public const string CloneAttach = "if_clone_attach";
    public const string CloneDetach = "if_clone_detach";
    public const string SetName = "SIOCSIFNAME";
    public const string SetDescription = "SIOCSIFDESCR";
    public const string SetMtu = "SIOCSIFMTU";
    public const string SetFlags = "SIOCSIFFLAGS";
    public const string SetMetric = "SIOCSIFMETRIC";
    public const string SetLladdr = "SIOCSIFLLADDR";
    public const string AddGroup = "SIOCAIFGROUP";
    public const string DeleteGroup = "SIOCDIFGROUP";
    public const string GetGroups = "SIOCGIFGROUP";
    public const string GetGroupMembers = "SIOCGIFGMEMB";
    public const string BridgeAdd = "BRDGADD";
    public const string BridgeDelete = "BRDGDEL";
    public const string TapOpen = "tap_dev_open";
    public const string Transmit = "if_transmit";
    public const string SetVnet = "SIOCSIFVNET";
    public const string VnetCreate = "jail_create";
    public const string VnetRemove = "jail_remove";
}
