using System.Text;

namespace IfApi.Domain;

/// <summary>What a PATCH may change on an interface, as it is before and after.</summary>
public sealed record InterfaceAttributes(string Name, IfFlags Flags, int Mtu, int Metric, string? Description, string? Lladdr);

/// <summary>
/// One PATCH: SIOCSIFNAME, SIOCSIFDESCR, SIOCSIFMTU, SIOCSIFFLAGS, SIOCSIFMETRIC and SIOCSIFLLADDR
/// asked together and applied all or nothing. A null member was not asked for; a description is
/// cleared with <see cref="ClearsDescription"/>.
/// </summary>
public sealed record InterfacePatch
{
    public const int MinMtu = 72;
    public const int MaxMtu = 65535;
    public const int MaxDescriptionBytes = 1023;

    public string? Name { get; init; }
    public string? Description { get; init; }
    public bool ClearsDescription { get; init; }
    public int? Mtu { get; init; }
    public int? Metric { get; init; }
    public bool? Up { get; init; }
    /// <summary>The changeable flags wanted (SIOCSIFFLAGS); the <see cref="IfFlagNames.CantChange"/> bits keep their value.</summary>
    public IfFlags? Flags { get; init; }
    public string? Lladdr { get; init; }

    /// <summary>SIOCSIFVNET: the vnet to move the interface to; a move is asked alone.</summary>
    public string? Vnet { get; init; }

    public bool IsEmpty => this == new InterfacePatch();

    /// <summary>Whether the patch is a move (<see cref="Vnet"/>); EINVAL when a move comes with anything else.</summary>
    public bool IsMove()
    {
        if (Vnet is null)
            return false;
        if (!(this with { Vnet = null }).IsEmpty)
            throw new IfError(Errno.EINVAL, "a move to another vnet is asked alone: {\"vnet\": NAME}", Ioctl.SetVnet);
        return true;
    }

    /// <summary>The ioctl a refusal of the whole patch (an unknown interface, say) is reported under: the first one asked.</summary>
    public string FirstIoctl => Name is not null ? Ioctl.SetName
        : Description is not null || ClearsDescription ? Ioctl.SetDescription
        : Mtu is not null ? Ioctl.SetMtu
        : Metric is not null ? Ioctl.SetMetric
        : Lladdr is not null ? Ioctl.SetLladdr
        : Ioctl.SetFlags;

    /// <summary>
    /// The attributes after the patch, or an <see cref="IfError"/> with the errno and ioctl of the
    /// first request the kernel would refuse. Checks everything before anything changes.
    /// </summary>
    public InterfaceAttributes Apply(InterfaceAttributes current, InterfaceKind kind)
    {
        var next = current;
        if (Name is not null)
        {
            IfNames.Validate(Name, Ioctl.SetName);
            next = next with { Name = Name };
        }
        if (ClearsDescription)
        {
            next = next with { Description = null };
        }
        else if (Description is not null)
        {
            if (Encoding.UTF8.GetByteCount(Description) > MaxDescriptionBytes)
                throw new IfError(Errno.ENAMETOOLONG, $"description is longer than {MaxDescriptionBytes} bytes", Ioctl.SetDescription);
            // SIOCSIFDESCR takes a C string, which ends at its first NUL; and PostgreSQL text cannot hold one.
            if (Description.Contains('\0', StringComparison.Ordinal))
                throw new IfError(Errno.EINVAL, "description must not contain NUL", Ioctl.SetDescription);
            next = next with { Description = Description.Length == 0 ? null : Description };
        }
        if (Mtu is int mtu)
        {
            if (mtu is < MinMtu or > MaxMtu)
                throw new IfError(Errno.EINVAL, $"mtu must be between {MinMtu} and {MaxMtu}", Ioctl.SetMtu);
            next = next with { Mtu = mtu };
        }
        if (Metric is int metric)
            next = next with { Metric = metric };
        if (Flags is IfFlags wanted)
        {
            if (Up is bool up && up != ((wanted & IfFlags.Up) != 0))
                throw new IfError(Errno.EINVAL, "up and flags disagree about up", Ioctl.SetFlags);
            next = next with { Flags = (current.Flags & IfFlagNames.CantChange) | (wanted & ~IfFlagNames.CantChange) };
        }
        if (Up is bool on)
            next = next with { Flags = on ? next.Flags | IfFlags.Up : next.Flags & ~IfFlags.Up };
        if (Lladdr is not null)
        {
            if (current.Lladdr is null || !kind.IsEthernet())
                throw new IfError(Errno.EOPNOTSUPP, $"{kind.WireName()} interfaces have no link-layer address", Ioctl.SetLladdr);
            if (!Domain.Lladdr.TryParse(Lladdr, out var canonical) || !Domain.Lladdr.IsUnicast(canonical))
                throw new IfError(Errno.EINVAL, "lladdr must be a unicast Ethernet address like f2:0b:a4:00:00:01", Ioctl.SetLladdr);
            next = next with { Lladdr = canonical };
        }
        return next;
    }
}
