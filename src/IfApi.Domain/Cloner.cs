using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace IfApi.Domain;

/// <summary>An interface cloner (<c>struct if_clone</c>) as the rules need it.</summary>
public sealed record ClonerSpec(string Name, InterfaceKind Kind, int MaxUnit, bool NoGroup, int MinIfs)
{
    /// <summary>IF_MAXUNIT: the default and the upper bound of a cloner's units.</summary>
    public const int IfMaxUnit = 0x7fff;

    /// <summary>The interfaces its minIfs units are: two for each epair.</summary>
    public int MinIfsInterfaces => MinIfs * (Kind == InterfaceKind.Epair ? 2 : 1);

    /// <summary>Longest cloner name: the name plus the largest unit must fit in IFNAMSIZ.</summary>
    public const int MaxNameLength = 9;

    /// <summary>Every cloner allocates its units itself (<c>IFC_F_AUTOUNIT</c>).</summary>
    public bool AutoUnit => true;

    /// <summary>The cloners present at first start, as a stock kernel attaches them.</summary>
    public static IReadOnlyList<ClonerSpec> BuiltIn { get; } =
    [
        new("lo", InterfaceKind.Loop, IfMaxUnit, NoGroup: false, MinIfs: 1),
        new("tap", InterfaceKind.Tap, IfMaxUnit, NoGroup: false, MinIfs: 0),
        new("bridge", InterfaceKind.Bridge, IfMaxUnit, NoGroup: false, MinIfs: 0),
        new("epair", InterfaceKind.Epair, IfMaxUnit, NoGroup: false, MinIfs: 0),
        new("vlan", InterfaceKind.Vlan, IfMaxUnit, NoGroup: false, MinIfs: 0),
    ];

    /// <summary>Checks a cloner an API client asks to attach.</summary>
    public static ClonerSpec Create(string? name, string? kind, int? maxUnit, bool? noGroup, int? minIfs)
    {
        const string ioctl = Ioctl.CloneAttach;
        ValidateName(name, ioctl);
        if (kind is null)
            throw new IfError(Errno.EINVAL, "kind is required (loop, tap, bridge, epair, vlan)", ioctl);
        if (!Kinds.TryParseCloneable(kind, out var k))
            throw new IfError(Errno.EINVAL, $"unknown kind '{kind}' (loop, tap, bridge, epair, vlan)", ioctl);
        var max = maxUnit ?? IfMaxUnit;
        if (max is < 0 or > IfMaxUnit)
            throw new IfError(Errno.EINVAL, $"maxUnit must be between 0 and {IfMaxUnit}", ioctl);
        var min = minIfs ?? 0;
        if (min < 0 || min > max + 1)
            throw new IfError(Errno.EINVAL, "minIfs must be between 0 and maxUnit + 1", ioctl);
        return new ClonerSpec(name, k, max, noGroup ?? false, min);
    }

    /// <summary>Checks a name a cloner could have: 1 to <see cref="MaxNameLength"/> lowercase letters.</summary>
    public static void ValidateName([NotNull] string? name, string? ioctl = null)
    {
        if (string.IsNullOrEmpty(name))
            throw new IfError(Errno.EINVAL, "cloner name is empty", ioctl);
        if (!name.All(char.IsAsciiLetterLower))
            throw new IfError(Errno.EINVAL, "cloner name must be lowercase letters a-z", ioctl);
        if (Encoding.UTF8.GetByteCount(name) > MaxNameLength)
            throw new IfError(Errno.ENAMETOOLONG, $"cloner name is longer than {MaxNameLength} letters", ioctl);
    }

    /// <summary>The name a unit gets (<c>"%s%d"</c>).</summary>
    public string UnitName(int unit) => Name + unit.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The interface names one unit produces: one, or two for epair (<c>epairNa</c>, <c>epairNb</c>).
    /// </summary>
    public string[] InterfaceNames(int unit) => Kind == InterfaceKind.Epair
        ? [UnitName(unit) + "a", UnitName(unit) + "b"]
        : [UnitName(unit)];

    /// <summary>
    /// Names that must be free for a unit to be handed out: the unit name itself, which
    /// <c>ifc_alloc_unit_specific</c> checks, and, for epair, both ends, which
    /// <c>epair_clone_create</c> checks.
    /// </summary>
    public string[] NamesHeldByUnit(int unit) => Kind == InterfaceKind.Epair
        ? [UnitName(unit), .. InterfaceNames(unit)]
        : [UnitName(unit)];
}
