using System.Reflection;
using IfApi.Application;
using IfApi.Auth;
using IfApi.Domain;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc;

namespace IfApi.Contract;

/// <summary>
/// What every endpoint under <c>/v1</c> keeps to, set once on the group: query parameters it does
/// not know are refused (400 EINVAL, as unknown JSON members are), every change can be a dry run
/// (<c>?dryRun=true</c>), and 401 and 403 are problems it may answer.
/// </summary>
public static class ContractSetup
{
    /// <summary>The query parameter that makes a change a dry run.</summary>
    public const string DryRunParameter = "dryRun";

    /// <summary>What the conventions and <c>POST /v1/transactions</c> need.</summary>
    public static IServiceCollection AddIfContract(this IServiceCollection services) =>
        services.AddSingleton<Transactions.OperationDispatcher>();

    public static RouteGroupBuilder MapIfV1(this IEndpointRouteBuilder routes)
    {
        var v1 = routes.MapGroup("/v1").ProducesProblem(401).ProducesProblem(403);
        ((IEndpointConventionBuilder)v1).Add(b => b.Metadata.Add(QueryContract.Of(b)));
        v1.AddEndpointFilter(CheckQueryAndDryRun);
        return v1;
    }

    /// <summary>
    /// The two places every operation of a network stack is mapped, once each by the same code: the
    /// plain paths, in the caller's own vnet, and <c>/v1/vnets/{vnet}/…</c>, in the vnet named (as
    /// <c>jexec NAME ifconfig …</c>). <see cref="Vnets.VnetAccess.UseIfVnets"/> sets the vnet a request
    /// works in from them. The named copies' operation ids end in <c>InVnet</c>.
    /// </summary>
    public static RouteGroupBuilder[] MapVnetScopes(this RouteGroupBuilder v1)
    {
        var own = v1.MapGroup("").WithMetadata(Vnets.VnetScope.Callers);
        var named = v1.MapGroup("/vnets/{" + Vnets.VnetAccess.RouteValue + "}").WithMetadata(Vnets.VnetScope.InPath)
            .ProducesProblem(404);
        ((IEndpointConventionBuilder)named).Finally(b =>
        {
            if (b.Metadata.OfType<IEndpointNameMetadata>().LastOrDefault() is { } name)
            {
                b.Metadata.Add(new EndpointNameMetadata(name.EndpointName + "InVnet"));
                b.Metadata.Add(new RouteNameMetadata(name.EndpointName + "InVnet"));
            }
        });
        return [own, named];
    }

    /// <summary>
    /// Refuses query parameters the endpoint does not take, then runs a change asked as a dry run
    /// inside a transaction that is rolled back: every rule is checked and the answer is the one the
    /// change would get, and nothing stays.
    /// </summary>
    private static async ValueTask<object?> CheckQueryAndDryRun(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var contract = http.GetEndpoint()?.Metadata.GetMetadata<QueryContract>();
        if (contract is null)
            return await next(context);
        var dryRun = contract.Check(http.Request.Query);
        if (!dryRun || BatchService.InDryRun)
            return await next(context);
        var batches = http.RequestServices.GetRequiredService<BatchService>();
        return await batches.RunAsync(Actor.Of(http), dryRun: true, async _ => await next(context), http.RequestAborted);
    }
}

/// <summary>The query parameters one endpoint takes, and whether it changes anything (and so takes <c>dryRun</c>).</summary>
public sealed class QueryContract(IReadOnlySet<string> names, bool changes)
{
    public IReadOnlySet<string> Names { get; } = names;

    /// <summary>Whether the endpoint changes state: it takes <c>dryRun</c>.</summary>
    public bool Changes { get; } = changes;

    /// <summary>Whether the query asks for a dry run; EINVAL for a parameter the endpoint does not take or a bad <c>dryRun</c>.</summary>
    public bool Check(IQueryCollection query)
    {
        var dryRun = false;
        foreach (var (name, values) in query)
        {
            if (Changes && name == ContractSetup.DryRunParameter)
            {
                dryRun = values.Count == 1 && values[0] is "true" or "false"
                    ? values[0] == "true"
                    : throw new IfError(Errno.EINVAL, "dryRun is true or false");
                continue;
            }
            if (!Names.Contains(name))
                throw new IfError(Errno.EINVAL, Names.Count == 0 && !Changes
                    ? $"unknown query parameter '{name}': this operation takes none"
                    : $"unknown query parameter '{name}'; this operation takes {string.Join(", ", Names.Concat(Changes ? [ContractSetup.DryRunParameter] : []).Order(StringComparer.Ordinal))}");
        }
        return dryRun;
    }

    /// <summary>
    /// The query parameters of an endpoint as Minimal APIs bind them: a handler parameter marked
    /// [FromQuery], or of a simple type and not named in the route; on a GET also <c>access_token</c>.
    /// </summary>
    public static QueryContract Of(EndpointBuilder b)
    {
        var route = b is RouteEndpointBuilder r ? r.RoutePattern.Parameters.Select(p => p.Name).ToHashSet(StringComparer.OrdinalIgnoreCase) : [];
        var methods = b.Metadata.OfType<HttpMethodMetadata>().SelectMany(m => m.HttpMethods).ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in b.Metadata.OfType<MethodInfo>().FirstOrDefault()?.GetParameters() ?? [])
        {
            if (p.GetCustomAttribute<FromQueryAttribute>() is { } q)
                names.Add(q.Name ?? p.Name!);
            else if (IsSimple(p.ParameterType) && !route.Contains(p.Name!) && !p.GetCustomAttributes().Any(a => a is IFromRouteMetadata or IFromBodyMetadata or IFromHeaderMetadata or IFromServiceMetadata))
                names.Add(p.Name!);
        }
        if (methods.Count > 0 && methods.All(AuthSetup.TakesAccessToken))
            names.Add(AuthSetup.AccessTokenParameter);
        return new QueryContract(names, changes: !(methods.Count > 0 && methods.All(HttpMethods.IsGet)));
    }

    private static bool IsSimple(Type t)
    {
        t = Nullable.GetUnderlyingType(t) ?? t;
        return t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal) || t == typeof(Guid)
            || t == typeof(DateTime) || t == typeof(DateTimeOffset) || t == typeof(TimeSpan);
    }
}
