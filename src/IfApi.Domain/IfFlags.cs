namespace IfApi.Domain;

/// <summary>Interface flags with FreeBSD's <c>IFF_*</c> bit values.</summary>
[Flags]
public enum IfFlags
{
    None = 0,
    Up = 0x1,
    Broadcast = 0x2,
    Debug = 0x4,
    Loopback = 0x8,
    PointToPoint = 0x10,
    Running = 0x40,      // IFF_DRV_RUNNING
    NoArp = 0x80,
    Promisc = 0x100,
    AllMulti = 0x200,
    OActive = 0x400,     // IFF_DRV_OACTIVE
    Simplex = 0x800,
    Link0 = 0x1000,
    Link1 = 0x2000,
    Link2 = 0x4000,
    Multicast = 0x8000,
    CantConfig = 0x10000,
    PPromisc = 0x20000,
    Monitor = 0x40000,
    StaticArp = 0x80000,
    StickyArp = 0x100000,
}

public static class IfFlagNames
{
    /// <summary>
    /// Bits SIOCSIFFLAGS leaves alone (<c>IFF_CANTCHANGE</c>); loopback is a property of the kind, so
    /// it cannot change either.
    /// </summary>
    public const IfFlags CantChange = IfFlags.Broadcast | IfFlags.PointToPoint | IfFlags.Running | IfFlags.OActive
        | IfFlags.Simplex | IfFlags.Multicast | IfFlags.AllMulti | IfFlags.Promisc | IfFlags.CantConfig | IfFlags.Loopback;

    private static readonly (IfFlags Flag, string Name)[] Table =
    [
        (IfFlags.Up, "up"), (IfFlags.Broadcast, "broadcast"), (IfFlags.Debug, "debug"),
        (IfFlags.Loopback, "loopback"), (IfFlags.PointToPoint, "pointopoint"), (IfFlags.Running, "running"),
        (IfFlags.NoArp, "noarp"), (IfFlags.Promisc, "promisc"), (IfFlags.AllMulti, "allmulti"),
        (IfFlags.OActive, "oactive"), (IfFlags.Simplex, "simplex"), (IfFlags.Link0, "link0"),
        (IfFlags.Link1, "link1"), (IfFlags.Link2, "link2"), (IfFlags.Multicast, "multicast"),
        (IfFlags.CantConfig, "cantconfig"), (IfFlags.PPromisc, "ppromisc"), (IfFlags.Monitor, "monitor"),
        (IfFlags.StaticArp, "staticarp"), (IfFlags.StickyArp, "stickyarp"),
    ];

    /// <summary>The names ifconfig prints, in bit order.</summary>
    public static string[] ToNames(IfFlags flags)
    {
        var names = new List<string>(6);
        foreach (var (flag, name) in Table)
            if ((flags & flag) != 0)
                names.Add(name);
        return [.. names];
    }

    /// <summary>Flags by the names the interface shows; an unknown one is EINVAL under <paramref name="ioctl"/>.</summary>
    public static IfFlags Parse(IEnumerable<string?> names, string ioctl)
    {
        var flags = IfFlags.None;
        foreach (var name in names)
            flags |= name is not null && TryParse(name, out var f) ? f : throw new IfError(Errno.EINVAL, $"unknown flag '{name}'", ioctl);
        return flags;
    }

    public static bool TryParse(string name, out IfFlags flag)
    {
        foreach (var (f, n) in Table)
        {
            if (n == name)
            {
                flag = f;
                return true;
            }
        }
        flag = IfFlags.None;
        return false;
    }
}
