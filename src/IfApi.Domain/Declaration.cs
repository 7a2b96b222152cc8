using System.Globalization;

namespace IfApi.Domain;

/// <summary>
/// A whole interface as a client declares it: <c>ifconfig tap create name wan0 mtu 9000 description x
/// group lan up</c> as one request. It is carried out as the kernel would run that command: the
/// create (SIOCIFCREATE2), then each setting (SIOCSIFNAME, SIOCSIFMTU, …, SIOCAIFGROUP), in one
/// transaction. A member that is null was not declared.
/// </summary>
public sealed record Declaration
{
    /// <summary>The cloner to create with; without it, <see cref="Name"/> picks one (the classic create).</summary>
    public string? Cloner { get; init; }
    /// <summary>With <see cref="Cloner"/>: the unit wanted instead of the lowest free one.</summary>
    public int? Unit { get; init; }
    public string? Name { get; init; }
    public int? Mtu { get; init; }
    public int? Metric { get; init; }
    public string? Description { get; init; }
    public bool? Up { get; init; }
    /// <summary>The changeable flags wanted, as in a patch.</summary>
    public IfFlags? Flags { get; init; }
    public string? Lladdr { get; init; }
    /// <summary>Groups to be in besides the ones every clone joins (<c>all</c> and its cloner's).</summary>
    public IReadOnlyList<string> Groups { get; init; } = [];

    /// <summary>
    /// The name to create by and the name to give it afterwards, if any. With a cloner, a name the
    /// cloner would give itself (<c>tap5</c> for <c>tap</c>) is created as such, not renamed to; any
    /// other is a rename of the clone (<c>ifconfig tap create name wan0</c>).
    /// </summary>
    public (string Create, string? Rename) Names()
    {
        if (Cloner is null)
        {
            if (Unit is not null)
                throw new IfError(Errno.EINVAL, "unit goes with cloner", Ioctl.IfCreate);
            if (Name is null)
                throw new IfError(Errno.EINVAL, "name or cloner is required", Ioctl.IfCreate);
            IfNames.Validate(Name, Ioctl.IfCreate);
            return (Name, null);
        }
        ClonerSpec.ValidateName(Cloner, Ioctl.IfCreate);
        if (Unit is < 0)
            throw new IfError(Errno.EINVAL, "unit must not be negative", Ioctl.IfCreate);
        var byUnit = Cloner + Unit?.ToString(CultureInfo.InvariantCulture);
        IfNames.Validate(byUnit, Ioctl.IfCreate);
        if (Name is null || Name == byUnit)
            return (byUnit, null);
        IfNames.Validate(Name, Ioctl.SetName);
        if (Name.StartsWith(Cloner, StringComparison.Ordinal) && Name.Length > Cloner.Length
            && IfNames.TryParseUnit(Name.AsSpan(Cloner.Length), out var unit, out _) && (Unit is null || Unit == unit))
            return (Name, null);
        return (byUnit, Name);
    }

    /// <summary>What the create is followed by: the rename, if any, and every attribute declared.</summary>
    public InterfacePatch AfterCreate(string? rename) => new()
    {
        Name = rename,
        Mtu = Mtu,
        Metric = Metric,
        Description = Description,
        Up = Up,
        Flags = Flags,
        Lladdr = Lladdr,
    };

    /// <summary>
    /// A replace of an interface of <paramref name="kind"/>: what is declared, and every attribute
    /// that is not back at the kind's default (the link-layer address, which has none, stays).
    /// </summary>
    public InterfacePatch Replace(InterfaceKind kind) => new()
    {
        Mtu = Mtu ?? kind.DefaultMtu(),
        Metric = Metric ?? 0,
        Description = Description,
        ClearsDescription = Description is null,
        Flags = Flags ?? (kind.DefaultFlags() & ~IfFlagNames.CantChange) | (Up == true ? IfFlags.Up : IfFlags.None),
        Up = Up,
        Lladdr = Lladdr,
    };

    /// <summary>
    /// The groups an interface of <paramref name="cloner"/> is in when this is declared: <c>all</c>,
    /// its cloner's group (<paramref name="clonerGroup"/>, null when the cloner is <c>noGroup</c>),
    /// and the groups declared.
    /// </summary>
    public IReadOnlySet<string> GroupsWanted(string? clonerGroup)
    {
        var wanted = new HashSet<string>(StringComparer.Ordinal) { GroupNames.All };
        if (clonerGroup is not null)
            wanted.Add(clonerGroup);
        foreach (var g in Groups)
            wanted.Add(g);
        return wanted;
    }

    /// <summary>Every rule that needs no store: the names, each group's name, and that the settings agree.</summary>
    public void Validate()
    {
        _ = Names();
        foreach (var g in Groups)
            GroupNames.Validate(g, Ioctl.AddGroup);
        if (Flags is IfFlags f && Up is bool up && up != ((f & IfFlags.Up) != 0))
            throw new IfError(Errno.EINVAL, "up and flags disagree about up", Ioctl.SetFlags);
    }
}
