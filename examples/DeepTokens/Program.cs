namespace DeepTokensExample;
public static class Program { public static int Main(string[] args) { System.Console.WriteLine(VqtVit.Summary); System.Console.WriteLine(VptDeepVit.Summary); return 0; } }
